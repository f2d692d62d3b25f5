//! Sans-IO, deterministic address allocation for Porter's `Eip` pools.
//!
//! Porter controllers feed this crate the pools operators declared ([`IpRange`] parsed from an
//! Eip's `spec.address`) and the assignments read back from Services, then ask it for addresses.
//! Everything is pure and ordered (no clocks, no I/O, no hash iteration order), so the same
//! sequence of calls always yields the same addresses, and a failing call never changes state.
//!
//! Addresses are handed out from the lowest: a CIDR pool such as `203.0.113.0/24` hands out
//! `203.0.113.0` first. A pool set with [`PoolOptions::avoid_buggy_ips`] never hands out an IPv4
//! address ending in `.0` or `.255` ([`is_buggy_ip`]), and counts only the others in its size;
//! such an address already held (restored) is kept: turning the option on reshuffles nothing.
//!
//! ```
//! use porter_ipam::{Allocator, IpRange, Request};
//!
//! let mut ipam = Allocator::new();
//! ipam.set_pool("eip-a", IpRange::parse("192.168.0.91-192.168.0.100")?, false)?;
//! let req = Request { pools: vec!["eip-a".into()], ..Request::default() };
//! let got = ipam.assign("default/web", &req)?;
//! assert_eq!(got.ip.to_string(), "192.168.0.91");
//! assert_eq!(ipam.assign("default/web", &req)?, got); // sticky
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs, unreachable_pub)]

mod allocator;
mod error;
mod range;

pub use allocator::{Allocator, Assignment, PoolOptions, PoolUsage, Request};
pub use error::{AllocError, PoolError, RangeError};
pub use range::{Family, IpRange, is_buggy_ip};
