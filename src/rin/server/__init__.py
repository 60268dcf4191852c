"""The ASGI application: routes, auth, body limits and error rendering around the request flow."""
