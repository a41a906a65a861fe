//! The original libc symbols, found once with `dlsym(RTLD_NEXT, name)` and cached.

/// `original!("name", fn type)`: the next definition of `name` after this library, as a
/// function pointer of the given type, or `None` when no object defines it. Cached per call
/// site in an atomic, so the lookup happens once.
macro_rules! original {
    ($name:literal, $ty:ty) => {{
        static CACHE: std::sync::atomic::AtomicPtr<libc::c_void> =
            std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
        let mut symbol = CACHE.load(std::sync::atomic::Ordering::Relaxed);
        if symbol.is_null() {
            // SAFETY: the name is a NUL-terminated literal; RTLD_NEXT is a valid handle.
            symbol = unsafe { libc::dlsym(libc::RTLD_NEXT, concat!($name, "\0").as_ptr().cast()) };
            CACHE.store(symbol, std::sync::atomic::Ordering::Relaxed);
        }
        if symbol.is_null() {
            None
        } else {
            // SAFETY: `symbol` is the address of the libc function `$name`, whose C signature
            // is `$ty`.
            Some(unsafe { std::mem::transmute::<*mut libc::c_void, $ty>(symbol) })
        }
    }};
}

/// `call_original!(option, fail, args..)`: calls the original, or fails with `ENOSYS` when
/// the symbol does not exist.
macro_rules! call_original {
    ($original:expr, $fail:expr $(, $arg:expr)* $(,)?) => {
        match $original {
            // SAFETY: the caller passes the arguments the user process gave the hook,
            // unchanged or replaced by values of the same C type.
            Some(function) => unsafe { function($($arg),*) },
            None => {
                $crate::errno::set(libc::ENOSYS);
                $fail
            }
        }
    };
}
