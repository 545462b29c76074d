"""The pages keyplane serves to people: login, logout, consent, the device page and the
dashboard (server-rendered HTML from the Jinja2 templates of `templates/`).

`session.current_user(request)` tells who is logged in, `session.redirect_to_login` sends a
browser to log in and come back, `csrf` guards every form, `render.page` renders a template
with the security headers; `dashboard/` holds the admin pages.
"""
