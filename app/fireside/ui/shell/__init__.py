"""The window as composition root: application start, main window, menus, banner, notices."""
