//! Whole-bundle tests that need the crate's insides: hostile manifests have
//! to be signed, so they are assembled below the public writer.

mod corruption;
mod fixture;
mod hostile;
mod keyfiles;
mod roundtrip;
