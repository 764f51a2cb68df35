//! How many clients this machine can hold, worked out at start-up from its limits.
//!
//! Each client costs one thread and one socket. A Rust thread takes 4 memory mappings
//! (its stack and guard page, its signal stack and guard page), and the kernel refuses
//! mappings past `vm.max_map_count`: spawning past that ceiling (~16,368 threads at the
//! default 65,530) makes the half-made thread abort the whole process. Sockets count
//! against RLIMIT_NOFILE. So the cap is the smaller of the two, each less a margin for
//! everything else the process maps and opens (libraries, malloc's arenas, large
//! buffers, the journal and logs, uploads in progress, the helper threads).

use std::fmt;

/// Memory mappings per thread (see the module docs).
const MAPS_PER_THREAD: usize = 4;
/// Used when /proc cannot be read: the kernel's default and a common file limit.
const DEFAULT_MAP_COUNT: usize = 65_530;
const DEFAULT_NOFILE: usize = 1024;

/// The limits found, and the clients they leave room for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    pub clients: usize,
    pub map_count: usize,
    pub open_files: usize,
}

impl Capacity {
    /// Reads this process's limits.
    pub fn detect() -> Capacity {
        let map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(DEFAULT_MAP_COUNT);
        let open_files = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| open_files_limit(&s))
            .unwrap_or(DEFAULT_NOFILE);
        Capacity::from_limits(map_count, open_files)
    }

    /// The clients `map_count` mappings and `open_files` descriptors leave room for.
    pub fn from_limits(map_count: usize, open_files: usize) -> Capacity {
        let threads = map_count / MAPS_PER_THREAD;
        let by_threads = threads.saturating_sub(margin(threads, 2000));
        let by_files = open_files.saturating_sub(margin(open_files, 1000));
        Capacity {
            clients: by_threads.min(by_files).max(1),
            map_count,
            open_files,
        }
    }
}

/// An eighth of `limit` kept for other uses, between 32 and `most`.
fn margin(limit: usize, most: usize) -> usize {
    (limit / 8).clamp(32, most)
}

/// The soft "Max open files" of a /proc/PID/limits text (`unlimited` counts as a lot).
fn open_files_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    match soft {
        "unlimited" => Some(1 << 20),
        n => n.parse().ok(),
    }
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "one thread and one socket per client, under vm.max_map_count {} and {} open files",
            self.map_count, self.open_files
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn these_machines_hold_14000_with_margin() {
        let c = Capacity::from_limits(65_530, 20_000);
        assert_eq!(c.clients, 16_382 - 2000);
        assert!(c.clients >= 14_000 && c.clients < 16_000);
    }

    #[test]
    fn a_low_file_limit_caps_clients_below_it() {
        assert_eq!(Capacity::from_limits(65_530, 256).clients, 224);
        assert_eq!(Capacity::from_limits(65_530, 20).clients, 1);
        assert_eq!(
            Capacity::from_limits(8_000_000, 1 << 20).clients,
            (1 << 20) - 1000
        );
    }

    #[test]
    fn reads_the_soft_open_file_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max cpu time              unlimited            unlimited            seconds\n\
                    Max open files            20000                20000                files\n";
        assert_eq!(open_files_limit(text), Some(20_000));
        assert_eq!(
            open_files_limit("Max open files  unlimited unlimited files"),
            Some(1 << 20)
        );
        assert_eq!(open_files_limit("nothing"), None);
    }
}
