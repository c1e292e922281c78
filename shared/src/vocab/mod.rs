//! The shared vocabulary: the few words every layer speaks and that belong to
//! none of them: the hook, the side of a comparison, time ranges and stamps,
//! content digests, bounded text.
//!
//! It sits at the bottom of the library and imports nothing from it, so any
//! module may use it without creating a cycle (`ARCHITECTURE.md`, "Layers").

pub mod digest;
pub mod hook;
pub mod side;
pub mod text;
pub mod time;

pub use digest::sha256_digest;
pub use hook::Hook;
pub use side::Side;
pub use time::{stamp, TimeRange};
