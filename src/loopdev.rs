//! Loop devices for image files: a free device is taken with LOOP_CTL_GET_FREE and bound
//! with LOOP_CONFIGURE (LOOP_SET_FD + LOOP_SET_STATUS64 before Linux 5.8), always with
//! LO_FLAGS_AUTOCLEAR, so the kernel releases the device once its last user (the mount in
//! the container's namespace, or this descriptor) is gone — even if husk is killed.

use crate::error::{Context, Error, Result};
use husk_init::sys;
use linux_raw_sys::loop_device as lo;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::path::Path;

pub struct LoopDevice {
    pub path: String,
    /// An ext4 image whose journal needs no recovery.
    pub clean: bool,
    /// Held until the container has mounted the device: with autoclear, closing the
    /// last descriptor of an unmounted device releases it.
    _fd: OwnedFd,
}

pub fn attach(image: &Path, readonly: bool) -> Result<LoopDevice> {
    let mode = if readonly { OFlags::RDONLY } else { OFlags::RDWR };
    let backing = rustix::fs::open(image, mode | OFlags::CLOEXEC, Mode::empty()).ctx("open image", image.display())?;
    // Said before a loop device exists: the mount's EINVAL would not say why.
    let Some(clean) = journal_clean(&backing) else {
        return Err(Error::msg(
            format!("image {}", image.display()),
            "is not an ext4 filesystem (rootfs-builder makes one from a rootfs tarball)",
        ));
    };
    let control = rustix::fs::open("/dev/loop-control", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .ctx("open", "/dev/loop-control")?;
    let mut info = loop_info(image);
    info.lo_flags = lo::LO_FLAGS_AUTOCLEAR as u32 | if readonly { lo::LO_FLAGS_READ_ONLY as u32 } else { 0 };
    // Another process may take the free device between the two calls: try again.
    for _ in 0..16 {
        let n = sys::loop_get_free(control.as_fd()).ctx("find a free loop device via", "/dev/loop-control")?;
        let path = format!("/dev/loop{n}");
        let dev = match rustix::fs::open(&path, mode | OFlags::CLOEXEC, Mode::empty()) {
            Ok(dev) => dev,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(Error::sys("open", &path, e)),
        };
        let config = lo::loop_config {
            fd: rustix::fd::AsRawFd::as_raw_fd(&backing) as u32,
            block_size: 0,
            info,
            __reserved: [0; 8],
        };
        let bound = match sys::loop_configure(dev.as_fd(), &config) {
            Err(Errno::NOTTY | Errno::INVAL) => sys::loop_set_fd_and_status(dev.as_fd(), backing.as_fd(), &info),
            other => other,
        };
        match bound {
            Ok(()) => return Ok(LoopDevice { path, clean, _fd: dev }),
            Err(Errno::BUSY) => continue,
            Err(e) => return Err(Error::sys(format!("attach {} to", image.display()), &path, e)),
        }
    }
    Err(Error::msg(format!("attach {}", image.display()), "no free loop device after 16 tries"))
}

/// None unless the image is ext4 (the superblock at 1024: magic 0xEF53 at 0x38); else
/// whether no journal recovery is pending (INCOMPAT_RECOVER, 0x4, in s_feature_incompat
/// at 0x60).
fn journal_clean(backing: &OwnedFd) -> Option<bool> {
    let mut sb = [0u8; 0x64];
    if rustix::io::pread(backing, &mut sb, 1024).ok() != Some(sb.len()) || sb[0x38..0x3a] != [0x53, 0xef] {
        return None;
    }
    Some(u32::from_le_bytes([sb[0x60], sb[0x61], sb[0x62], sb[0x63]]) & 0x4 == 0)
}

fn loop_info(image: &Path) -> lo::loop_info64 {
    let mut info = lo::loop_info64 {
        lo_device: 0,
        lo_inode: 0,
        lo_rdevice: 0,
        lo_offset: 0,
        lo_sizelimit: 0,
        lo_number: 0,
        lo_encrypt_type: 0,
        lo_encrypt_key_size: 0,
        lo_flags: 0,
        lo_file_name: [0; 64],
        lo_crypt_name: [0; 64],
        lo_encrypt_key: [0; 32],
        lo_init: [0; 2],
    };
    // The name losetup shows; truncated like the kernel does.
    let name = image.to_string_lossy();
    let n = name.len().min(63);
    info.lo_file_name[..n].copy_from_slice(&name.as_bytes()[..n]);
    info
}
