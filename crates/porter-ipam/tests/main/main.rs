//! porter-ipam's public API: the allocator's rules and messages by example, and random
//! operation sequences checked against a brute-force model.

mod allocator;
mod properties;
