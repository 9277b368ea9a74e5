"""Identity adapters: JWT verification against trusted OIDC issuers and their published keys."""
