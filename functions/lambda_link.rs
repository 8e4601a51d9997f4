//! The build script of every Lambda function (and of the init benchmark's hello world, built
//! like them): link the binary as a position-dependent executable on Linux.
//!
//! Why: as a PIE, a function carries ~38 000 relative relocations (900 KB of `.rela.dyn`) that
//! the dynamic loader applies at every start, reading and writing ~350 pages before `main`:
//! about a third of a function's cold start (BENCHMARKS.md). A position-dependent executable has
//! them resolved at link time. The trade-off: the executable's own image is not
//! address-randomised; its libraries, heap, stack and mappings still are, and the code is Rust.
//! (Packed RELR relocations would keep PIE, but need glibc 2.36; Lambda's AL2023 has 2.34.)

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
