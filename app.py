"""Entry point: `flask --app app run`, or `gunicorn "app:app"`."""

from csa import create_app, models
from csa.extensions import db

app = create_app()


@app.shell_context_processor
def shell_context() -> dict[str, object]:
    return {"db": db, "models": models}
