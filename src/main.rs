//! The `imcpm` binary: see `imcpm --help`.

/// mimalloc instead of the C library's allocator: the judge allocates and frees many small
/// blocks per message, and in `imcpm load` the driver's thread allocates what the judge's
/// thread frees. docs/PERFORMANCE.md, "The memory allocator", has what it bought.
#[global_allocator]
static ALLOCATOR: imcpm::base::alloc::Mi = imcpm::base::alloc::Mi;

fn main() -> std::process::ExitCode {
    imcpm::cli::main()
}
