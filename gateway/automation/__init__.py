"""Local automation: rules that switch relays and publish messages inside the gateway, with no
client connected and every bridge down."""
