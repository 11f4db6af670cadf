"""The Enlace hub: verifies, routes by sharing agreements, audits."""
