"""The pages keyplane serves to people: login, logout, consent (server-rendered HTML).

`session.current_user(request)` tells who is logged in, `session.redirect_to_login` sends a
browser to log in and come back, `csrf` guards every form, `render.page` lays a page out.
"""
