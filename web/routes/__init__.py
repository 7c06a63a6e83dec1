"""One router per feature; web.main wires them."""
