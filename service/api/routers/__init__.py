"""One router per resource; each route translates HTTP to one domain call and back."""
