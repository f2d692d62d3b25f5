//! porter-sys against the real kernel: the socket options do what they say.

mod sockopts;
