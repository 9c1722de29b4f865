"""Services: load rows, call the domain code, flush. Views, CLI and jobs all use them.

Services never commit: the request, command or job that calls them does, once.
"""
