"""Moot's media plane for the call bridge: RTP/RTCP, codecs, jitter buffers, the N-1
mixer and the multi-process :class:`~moot.media.pool.MediaPool`."""
