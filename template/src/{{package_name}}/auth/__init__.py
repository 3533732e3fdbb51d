"""Who is calling: authentication, the principal, roles."""
