"""Sources that feed the hub: the HTTP gateway and the watched folder."""
