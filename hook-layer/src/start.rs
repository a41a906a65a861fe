//! The library's constructor: captures the launch environment, then starts the layer.

use std::ffi::CStr;

/// Runs when the library is loaded (glibc passes `argc, argv, envp` to `.init_array`
/// functions), after libc and the libraries loaded before the layer are set up: records
/// `argv[0]`, captures the environment and starts the layer ([`crate::session::start`]), all
/// inside the re-entry guard, so whatever it reaches (an allocator initialising itself on the
/// first `malloc`, say) sees the original functions.
extern "C" fn on_load(argc: libc::c_int, argv: *const *const libc::c_char, _envp: *const *const libc::c_char) {
    if !crate::guard::enter() {
        return;
    }
    let argv0 = if argc > 0 && !argv.is_null() {
        // SAFETY: glibc passes the process's argv, valid for argc entries.
        let first = unsafe { *argv };
        // SAFETY: argv entries are NUL-terminated strings.
        (!first.is_null()).then(|| unsafe { CStr::from_ptr(first) })
    } else {
        None
    };
    if crate::launch::capture_once(argv0).configured() {
        crate::forks::register();
        if let Some(handed) = std::env::var_os(crate::writeback::HANDOFF_VAR) {
            // Removed so that the program and its children never see a stale hand-over.
            std::env::remove_var(crate::writeback::HANDOFF_VAR);
            crate::writeback::adopt(handed.as_encoded_bytes());
        }
        // Our own copy of std: this hook sees only the layer's panics, which belong in its log
        // rather than on the user process's stderr.
        std::panic::set_hook(Box::new(|info| crate::log::line(format_args!("panic: {info}"))));
    }
    crate::session::start();
    crate::guard::leave();
}

#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn(libc::c_int, *const *const libc::c_char, *const *const libc::c_char) = on_load;
