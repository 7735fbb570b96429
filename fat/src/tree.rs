//! The contents to format as a tree: each path checked (valid names, no
//! name twice in a directory without regard to case, no file where a
//! directory must be), parents made as needed, children sorted by name so
//! the order contents are given in does not matter.

use crate::contents::Contents;
use crate::error::{FatError, Result};
use crate::names::{self, same_name};

#[derive(Debug)]
pub(crate) enum Kind<'a> {
    Dir(Vec<usize>),
    File {
        data: &'a [u8],
        size: u32,
        alone: bool,
    },
}

#[derive(Debug)]
pub(crate) struct Node<'a> {
    pub name: String,
    pub path: String,
    /// The directory it is in (the root's is itself).
    pub parent: usize,
    pub kind: Kind<'a>,
    pub first_cluster: u32,
    pub clusters: u32,
}

/// Builds the tree of `contents`: node 0 is the root, children sorted by
/// name.
pub(crate) fn tree<'a>(contents: &Contents<'a>) -> Result<Vec<Node<'a>>> {
    let mut nodes = vec![Node {
        name: String::new(),
        path: "/".to_string(),
        parent: 0,
        kind: Kind::Dir(Vec::new()),
        first_cluster: 0,
        clusters: 0,
    }];
    for dir in &contents.dirs {
        let parts = parts_of(dir)?;
        make_dirs(&mut nodes, &parts)?;
    }
    for file in &contents.files {
        let parts = parts_of(&file.path)?;
        let Some((name, parents)) = parts.split_last() else {
            return Err(bad(&file.path, "a file needs a name"));
        };
        let parent = make_dirs(&mut nodes, parents)?;
        let path = join(parts.as_slice());
        if child(&nodes, parent, name).is_some() {
            return Err(bad(&path, "given twice (FAT names are case-insensitive)"));
        }
        let size = file.reserve.unwrap_or(file.data.len() as u64);
        if size < file.data.len() as u64 {
            return Err(bad(&path, "the reserved size is smaller than the data"));
        }
        let size = u32::try_from(size)
            .map_err(|_| bad(&path, "larger than FAT32's largest file (4 GiB - 1)"))?;
        add_child(
            &mut nodes,
            parent,
            Node {
                name: name.to_string(),
                path,
                parent,
                kind: Kind::File {
                    data: file.data,
                    size,
                    alone: file.alone_in_sector,
                },
                first_cluster: 0,
                clusters: 0,
            },
        );
    }
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    for node in &mut nodes {
        if let Kind::Dir(children) = &mut node.kind {
            children.sort_by(|&a, &b| names.get(a).cmp(&names.get(b)));
        }
    }
    Ok(nodes)
}

pub(crate) fn bad(path: &str, why: &'static str) -> FatError {
    FatError::BadContents {
        path: path.to_string(),
        why,
    }
}

pub(crate) fn join(parts: &[&str]) -> String {
    format!("/{}", parts.join("/"))
}

/// A path's components, each a valid long name.
pub(crate) fn parts_of(path: &str) -> Result<Vec<&str>> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for part in &parts {
        names::validate_long(part).map_err(|e| match e {
            FatError::InvalidName { why, .. } => bad(&join(&parts), why),
            e => e,
        })?;
    }
    Ok(parts)
}

pub(crate) fn child(nodes: &[Node<'_>], dir: usize, name: &str) -> Option<usize> {
    match &nodes.get(dir)?.kind {
        Kind::Dir(children) => children
            .iter()
            .copied()
            .find(|&c| nodes.get(c).is_some_and(|n| same_name(&n.name, name))),
        Kind::File { .. } => None,
    }
}

pub(crate) fn add_child<'a>(nodes: &mut Vec<Node<'a>>, parent: usize, node: Node<'a>) -> usize {
    let index = nodes.len();
    nodes.push(node);
    if let Some(Kind::Dir(children)) = nodes.get_mut(parent).map(|n| &mut n.kind) {
        children.push(index);
    }
    index
}

/// Makes the directories of `parts` as needed; returns the last one.
pub(crate) fn make_dirs(nodes: &mut Vec<Node<'_>>, parts: &[&str]) -> Result<usize> {
    let mut at = 0;
    for (depth, part) in parts.iter().enumerate() {
        let path = join(parts.get(..=depth).unwrap_or(parts));
        at = match child(nodes, at, part) {
            Some(c) => {
                if !matches!(nodes.get(c).map(|n| &n.kind), Some(Kind::Dir(_))) {
                    return Err(bad(&path, "a file where a directory is needed"));
                }
                c
            }
            None => add_child(
                nodes,
                at,
                Node {
                    name: part.to_string(),
                    path,
                    parent: at,
                    kind: Kind::Dir(Vec::new()),
                    first_cluster: 0,
                    clusters: 0,
                },
            ),
        };
    }
    Ok(at)
}

/// Nodes in depth-first order, the root first, children in name order.
pub(crate) fn preorder(nodes: &[Node<'_>]) -> Vec<usize> {
    let mut out = Vec::with_capacity(nodes.len());
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        out.push(i);
        if let Some(Kind::Dir(children)) = nodes.get(i).map(|n| &n.kind) {
            stack.extend(children.iter().rev());
        }
    }
    out
}
