"""The web surface: one HTTP listener (h11) serving the status page, the JSON API, /metrics and MQTT
over WebSockets (wsproto). Importing this package loads nothing; gateway.web.server does."""
