//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds the
//! migration folders at compile time, and cargo does not watch them itself.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
