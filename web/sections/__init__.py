"""One blueprint per admin-site section (see SECTION_MODULES in web/__init__.py)."""
