//! A command run on a pseudo-terminal, as a user runs it in a terminal window: what it decides
//! by "is this a terminal" (colour under `--color auto`, wrapping at the terminal's width) is
//! seen by a test.

#![allow(dead_code)]

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a command wrote to its terminal (stdout and stderr together, the terminal's `\r\n` line
/// ends as `\n`) and its exit status.
pub(crate) struct Screen {
    pub code: Option<i32>,
    pub text: String,
}

/// `imcpm ARGS` in `dir`, its stdin, stdout and stderr on a pseudo-terminal `cols` columns
/// wide, with `env` set and the colour variables of the test's own environment removed; killed
/// after 60 s.
pub(crate) fn imcpm_on_terminal(dir: &Path, args: &[&str], env: &[(&str, &str)], cols: u16) -> Screen {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize { ws_row: 50, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty writes the two descriptors it opens into the ints we pass; name and
    // termios may be null, and the window size is read only.
    let r = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and are owned by nothing else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut c = Command::new(env!("CARGO_BIN_EXE_imcpm"));
    c.current_dir(dir).args(args);
    for k in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "COLUMNS", "RUST_LOG"] {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    c.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    let mut child = c.spawn().expect("imcpm runs");
    // Our copies of the terminal's end must be closed, or reading never ends.
    drop(c);
    let mut master = std::fs::File::from(master);
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        // The read fails (EIO) once the command has exited and closed the terminal.
        while let Ok(n) = master.read(&mut chunk) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        out
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("imcpm {} did not end within 60 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = reader.join().unwrap();
    Screen { code: status.code(), text: String::from_utf8_lossy(&out).replace("\r\n", "\n") }
}
