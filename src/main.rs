fn main() {
    quiet_window_system_probe();
    if let Err(error) = sturdy::cli::main() {
        eprintln!("error: {error:#}");
        // A run stopped by SIGINT or SIGTERM, or cut short by one, exits as the shell
        // expects of an interrupted one.
        let stopped =
            error.chain().any(|cause| cause.is::<sturdy::train::run::Stopped>()) || sturdy::interrupt::requested();
        std::process::exit(if stopped { 130 } else { 1 });
    }
}

/// Mesa's Vulkan drivers look for a Wayland display when wgpu creates its instance and
/// print "error: XDG_RUNTIME_DIR is invalid or not set" where that variable is unset.
/// Compute needs no display: an empty folder of our own lets the probe find nothing,
/// quietly. Set before any thread starts. (Wayland exists on Unix only.)
#[cfg(unix)]
fn quiet_window_system_probe() {
    use std::os::unix::fs::PermissionsExt;
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join("sturdy-runtime");
    let private = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)));
    if private.is_ok() {
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
}

#[cfg(not(unix))]
fn quiet_window_system_probe() {}
