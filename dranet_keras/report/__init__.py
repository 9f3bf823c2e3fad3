"""HTML and notebook reports."""
