"""The HTTPS web admin: sign-in with MMP admin accounts, status pages, configuration."""
