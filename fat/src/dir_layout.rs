//! How the formatter lays out one directory's slots, and their bytes.

use std::collections::HashSet;

use crate::dir_entry::{
    free_slot, ShortEntry, ATTR_ARCHIVE, ATTR_DIRECTORY, ATTR_VOLUME_ID, SLOT, SLOTS_PER_SECTOR,
};
use crate::error::{FatError, Result};
use crate::names::{self, StoredName};
use crate::time::FatTime;
use crate::tree::{bad, Kind, Node};

/// FAT allows a directory 65536 slots.
const MAX_DIR_SLOTS: usize = 65_536;

/// One directory's slots: each child's names and first slot, and how many
/// slots are in use (padding included).
#[derive(Debug, Default)]
pub(crate) struct DirPlan {
    pub placed: Vec<(usize, StoredName, usize)>,
    pub used: usize,
}

/// Lays out one directory's slots: the label or `.` and `..`, then each
/// child. No entry straddles two sectors (so renames stay one-sector
/// writes), and a file asked to be alone gets a sector to itself.
pub(crate) fn plan_dir(
    nodes: &[Node<'_>],
    dir: usize,
    children: &[usize],
    label: bool,
) -> Result<DirPlan> {
    let is_root = dir == 0;
    let mut plan = DirPlan {
        placed: Vec::new(),
        used: if is_root { usize::from(label) } else { 2 },
    };
    let mut taken: HashSet<[u8; 11]> = HashSet::new();
    let path = nodes.get(dir).map_or("/", |n| n.path.as_str());
    for &c in children {
        let Some(node) = nodes.get(c) else { continue };
        let stored = names::store(&node.name, |n| taken.contains(n)).map_err(|e| match e {
            FatError::NoAliasLeft { .. } => FatError::NoAliasLeft {
                path: node.path.clone(),
            },
            e => e,
        })?;
        taken.insert(stored.short);
        let n = stored.slots();
        let alone = matches!(node.kind, Kind::File { alone: true, .. });
        let to_sector = |at: usize| at.div_ceil(SLOTS_PER_SECTOR) * SLOTS_PER_SECTOR;
        if alone {
            if n > SLOTS_PER_SECTOR {
                return Err(bad(
                    &node.path,
                    "its name takes more than the 16 slots of a sector, so it cannot be alone in one",
                ));
            }
            plan.used = to_sector(plan.used);
        } else if plan.used % SLOTS_PER_SECTOR + n > SLOTS_PER_SECTOR && n <= SLOTS_PER_SECTOR {
            plan.used = to_sector(plan.used);
        }
        plan.placed.push((c, stored, plan.used));
        plan.used += n;
        if alone {
            plan.used = to_sector(plan.used);
        }
        if plan.used > MAX_DIR_SLOTS {
            return Err(bad(path, "more than 65536 directory slots"));
        }
    }
    Ok(plan)
}

/// The bytes of a directory's clusters: slots in use (padding as free
/// slots), then zeros, which end the directory.
pub(crate) fn encode_dir(
    nodes: &[Node<'_>],
    dir: usize,
    plan: Option<&DirPlan>,
    label: Option<[u8; 11]>,
    time: FatTime,
    cluster_size: u32,
) -> Vec<u8> {
    let Some(node) = nodes.get(dir) else {
        return Vec::new();
    };
    let len = u64::from(node.clusters) * u64::from(cluster_size);
    let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
    let mut put = |index: usize, slot: &[u8; SLOT]| {
        if let Some(dst) = bytes.get_mut(index * SLOT..(index + 1) * SLOT) {
            dst.copy_from_slice(slot);
        }
    };
    let used = plan.map_or(0, |p| p.used);
    for i in 0..used {
        put(i, &free_slot());
    }
    if dir == 0 {
        if let Some(label) = label {
            put(0, &ShortEntry::new(label, ATTR_VOLUME_ID, 0, time).encode());
        }
    } else {
        let mut dot = ShortEntry::new(*b".          ", ATTR_DIRECTORY, 0, time);
        dot.first_cluster = node.first_cluster;
        put(0, &dot.encode());
        let mut dotdot = ShortEntry::new(*b"..         ", ATTR_DIRECTORY, 0, time);
        // `..` of a directory in the root says 0, not the root's cluster.
        dotdot.first_cluster = match node.parent {
            0 => 0,
            p => nodes.get(p).map_or(0, |n| n.first_cluster),
        };
        put(1, &dotdot.encode());
    }
    for (child, stored, start) in plan.map_or(&[][..], |p| p.placed.as_slice()) {
        let Some(c) = nodes.get(*child) else { continue };
        for (k, slot) in stored.lfn.iter().enumerate() {
            put(start + k, slot);
        }
        let (attr, size) = match c.kind {
            Kind::Dir(_) => (ATTR_DIRECTORY, 0),
            Kind::File { size, .. } => (ATTR_ARCHIVE, size),
        };
        let mut entry = ShortEntry::new(stored.short, attr, stored.case_flags, time);
        entry.first_cluster = c.first_cluster;
        entry.size = size;
        put(start + stored.lfn.len(), &entry.encode());
    }
    bytes
}
