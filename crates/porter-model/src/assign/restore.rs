//! What a Service already holds: re-recorded in the allocator before anything new is handed
//! out, kept as an orphan when it fell out of every pool, or given up when the Service asks
//! for something else.

use std::fmt;
use std::net::IpAddr;

use porter_ipam::Allocator;

use super::intent::Intent;
use crate::ObjectKey;

/// A Service holds an address that is in no Eip any more: kept, never silently moved, but the
/// operator is warned. `Display` says what to do (the `IPOrphaned` event's message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// The address held.
    pub ip: IpAddr,
}

impl fmt::Display for Orphan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "address {} is in no Eip pool any more; it is kept, not moved: restore its pool, or clear the Service's status to get a new address",
            self.ip
        )
    }
}

pub(super) enum Restored {
    Kept(IpAddr, String),
    Orphaned(Orphan),
    Nothing,
}

/// Re-records the first address the Service holds, if it still satisfies the Service's intent.
pub(super) fn restore(
    allocator: &mut Allocator,
    key: &ObjectKey,
    held: &[IpAddr],
    intent: &Intent,
) -> Restored {
    let Some(&ip) = held.first() else {
        return Restored::Nothing;
    };
    let Some(pool) = allocator.pool_of(ip).map(str::to_owned) else {
        // Held but in no pool (the pool was shrunk or deleted): keep it, never move it
        // silently, unless the user now asks for something else: another address, or a
        // pool other than the one that served it (asking for the very address held, or
        // naming the pool it came from, is not something else).
        let same_pool = match (&intent.pool, &intent.served_by) {
            (Some(want), Some(served)) => want == served,
            _ => true,
        };
        return if intent.ip.is_none_or(|want| want == ip) && same_pool {
            Restored::Orphaned(Orphan { ip })
        } else {
            Restored::Nothing
        };
    };
    if !intent.accepts(ip, &pool) {
        return Restored::Nothing;
    }
    match allocator.restore(&key.to_string(), ip) {
        Ok(_) => Restored::Kept(ip, pool),
        // Held by an older Service too (a status edited by hand): the older claim won.
        Err(_) => Restored::Nothing,
    }
}
