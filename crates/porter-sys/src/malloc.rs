//! The settings of glibc's allocator that Porter's memory depends on.

/// Fixes glibc's mmap threshold at `bytes`: every allocation at least that large gets pages of
/// its own, returned to the system when freed.
///
/// By default the threshold adapts: each freed mmapped block raises it to that block's size
/// (up to 32 MiB), so after the first few large buffers every later one (a page of a
/// Kubernetes list, an HTTP body, a batch of UPDATEs) is carved from the heap among the small,
/// long-lived allocations of the objects kept, and the heap stays at its high-water mark. A
/// speaker listing 100k Services held 10 MiB more heap that way (`docs/benchmarks.md`). Setting
/// the threshold once turns the adaptation off. Call it first thing in `main`, before threads
/// start; returns whether the allocator took the setting (false on a non-glibc target).
pub fn fix_mmap_threshold(bytes: usize) -> bool {
    fixed(bytes)
}

/// Limits glibc's allocator to `arenas` arenas (heaps), shared by all threads.
///
/// By default a thread that finds the allocator busy gets an arena of its own (up to eight per
/// core), and memory freed in one arena serves only later allocations from it. The speaker's
/// two tokio workers then each held part of the objects kept, beside the holes left by list
/// pages decoded there: 77.9 MiB at 100k Services against 70.0 MiB in one arena
/// (`docs/benchmarks.md`). Small allocations mostly come from per-thread caches without taking
/// the arena's lock, so sharing it costs Porter's few threads little. Call it first thing in
/// `main`, before threads start; returns whether the allocator took the setting (false on a
/// non-glibc target).
pub fn limit_arenas(arenas: usize) -> bool {
    set(M_ARENA_MAX, arenas)
}

fn fixed(bytes: usize) -> bool {
    set(M_MMAP_THRESHOLD, bytes)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
use libc::{M_ARENA_MAX, M_MMAP_THRESHOLD};
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const M_ARENA_MAX: i32 = 0;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const M_MMAP_THRESHOLD: i32 = 0;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(
    unsafe_code,
    reason = "mallopt has no safe wrapper; it only sets an allocator tunable"
)]
fn set(param: libc::c_int, value: usize) -> bool {
    let Ok(value) = libc::c_int::try_from(value) else {
        return false;
    };
    // SAFETY: mallopt reads no pointer and changes only a tunable of glibc's allocator, which
    // accepts or refuses the value (returning 0) at any time.
    unsafe { libc::mallopt(param, value) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set(_param: i32, _value: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_a_fixed_threshold_and_a_size_it_cannot_hold_is_refused() {
        assert!(super::fix_mmap_threshold(128 * 1024));
        assert!(!super::fix_mmap_threshold(usize::MAX));
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_an_arena_limit_and_a_count_it_cannot_hold_is_refused() {
        assert!(super::limit_arenas(1));
        assert!(!super::limit_arenas(usize::MAX));
    }
}
