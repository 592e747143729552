"""The dashboard at /ui: server-rendered pages over the same service functions as the REST
API, behind the same API keys (kept in an HttpOnly session cookie), with charts drawn as SVG
on the server. Nothing is fetched from another origin: no CDN, no inline script."""
