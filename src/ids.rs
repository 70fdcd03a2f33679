//! Random identifiers for containers and interfaces.

/// 12 hex digits from the kernel's random pool, like docker's short ids.
pub fn short_id() -> String {
    hex(6)
}

pub fn hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let mut filled = 0;
    while filled < bytes {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            // getrandom cannot fail once the pool is initialised; fall back on time and pid.
            Err(_) => {
                let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
                let seed = (t.tv_nsec as u64) ^ ((rustix::process::getpid().as_raw_nonzero().get() as u64) << 32);
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = (seed >> ((i % 8) * 8)) as u8;
                }
                filled = bytes;
            }
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
