"""What tells the team that something is wrong: errors (Sentry), metrics (Prometheus), traces."""
