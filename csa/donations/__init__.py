"""The food-sharing partners (issue 13): who receives donated shares, offered shares nobody
took and the round's surplus, their pickup sheets and the season's totals."""
