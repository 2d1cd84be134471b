"""Video inspection (视频验货): calls between a buyer's phone and the warehouse or an agent through a media
backend (Janus), recorded on the server, and the per-case evidence chain the recordings join."""
