"""Web Bridge 3: the web app, its sign-in, and browsers' WebRTC legs in the call bridge's calls."""
