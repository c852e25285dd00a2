//! Integration tests: one binary, so the crate is linked once.

mod helpers;

mod admin;
mod admin_api;
mod bad_input;
mod cli;
mod client_interop;
mod id_tokens;
mod instances;
mod interop;
mod introspection;
mod key_material;
mod lifecycle;
mod private_key_jwt;
mod refresh;
mod token;
mod verifier;
mod well_known;
