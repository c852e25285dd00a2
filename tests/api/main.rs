//! Integration tests: one binary, so the crate is linked once.

mod helpers;

mod admin;
mod instances;
mod interop;
mod introspection;
mod key_material;
mod lifecycle;
mod refresh;
mod bad_input;
mod cli;
mod token;
mod verifier;
mod well_known;
