"""Video: RTP payload formats (H.264, VP8), PyAV codecs, layouts, the compositor and the per-call video mixer."""
