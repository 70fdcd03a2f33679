//! Finding and releasing what dead containers left: a container whose owner (the
//! launcher or the supervisor) is gone died with it (PR_SET_PDEATHSIG), but the owner
//! never got to release its resources. `collect_garbage` does that for every such entry;
//! every husk command runs it first, and `husk gc` on demand.

use crate::state::{self, ContainerDir, Status};

/// Releases the resources of containers whose owner is gone. Returns their names.
/// Entries that cannot be read are left alone here (`ps` reports them). Cgroups and
/// leases are recorded only after their container's entry exists, so orphans among them
/// can only follow a dead entry: the scan of every hierarchy and lease file runs when one
/// was found, or when `thorough` (`husk gc`) asks for it.
pub fn collect_garbage(thorough: bool) -> Vec<String> {
    state::ContainerDir::collect_unfinished();
    let mut collected = Vec::new();
    for name in state::names() {
        let Ok(mut dir) = ContainerDir::open(&name) else { continue };
        // Held until this entry is dealt with: its owner is gone and no other process
        // collects it meanwhile, so the state read next is the last one written.
        let Some(_claim) = dir.claim() else { continue };
        let Ok(mut st) = dir.load() else { continue };
        if st.status == Status::Exited {
            continue;
        }
        // An OCI container's init outlives `husk create` by design (its caller reaps
        // it); it is finished only when the init is gone, and its entry stays for
        // `husk delete`.
        if st.oci() && st.init.alive() {
            continue;
        }
        // The parent-death signal normally took the init already; make sure. A pasta
        // connecting it would hold its namespace forever: stopped too.
        if st.init.alive() {
            let _ = husk_init::sys::kill(st.init.pid, linux_raw_sys::general::SIGKILL);
        }
        drop(crate::network::PastaPid(dir.path.join("pasta.pid")));
        if st.remove && !st.oci() {
            dir.remove();
        } else {
            st.status = Status::Exited;
            st.exit_code = None;
            st.signal = None;
            st.finished = state::now();
            if dir.save(&st).is_err() {
                continue;
            }
            dir.keep();
        }
        collected.push(name);
    }
    // Their cgroups are unlocked now (the flocks died with the owner) and empty, and
    // their leases name containers that are gone: both are released.
    if thorough || !collected.is_empty() {
        crate::cgroups::collect_garbage();
        let _ = crate::network::collect_garbage();
    }
    collected
}
