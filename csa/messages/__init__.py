"""Messages from the farm to its households, site notes, and the member's inbox."""
