//! The image archive loaded into the real engine: a one-file image whose static binary runs.
//! Like every engine test of this workspace it needs a running Docker engine (and a C compiler
//! able to link statically), and fails when there is none. Its image is named
//! `debimage-test/hello:<pid>` and removed afterwards.

use std::collections::BTreeMap;

use debimage::{write_dir_layer, write_image_archive, ImageSpec};
use xshell::{cmd, Shell};

use crate::support::TempDir;

#[test]
fn docker_loads_the_archive_and_runs_it() {
    let dir = TempDir::new("docker");
    let sh = Shell::new().unwrap();
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("bin")).unwrap();
    let c = dir.join("hello.c");
    std::fs::write(
        &c,
        "#include <unistd.h>\nint main(void){write(1,\"hello from debimage\\n\",20);return 0;}\n",
    )
    .unwrap();
    let bin = src.join("bin/hello");
    cmd!(sh, "cc -static -O2 -o {bin} {c}").run().unwrap();
    let layer = write_dir_layer(&src, &["bin"], "", &dir.join("layer.tar")).unwrap();
    let tag = format!("debimage-test/hello:{}", std::process::id());
    let spec = ImageSpec {
        cmd: vec!["/bin/hello".into()],
        user: Some("65532".into()),
        labels: BTreeMap::from([("io.webtest.xtask".to_string(), "1".to_string())]),
        history: vec!["hello".into()],
        ..ImageSpec::default()
    };
    let archive = dir.join("image.tar");
    let id = write_image_archive(&archive, &tag, &[layer], &spec).unwrap();
    cmd!(sh, "docker load -i {archive}").quiet().run().unwrap();
    let format = "{{.Id}}";
    let inspect = cmd!(sh, "docker image inspect -f {format} {tag}").read();
    let run = cmd!(sh, "docker run --rm {tag}").read();
    let _ = cmd!(sh, "docker rmi {tag}").quiet().ignore_stdout().run();
    assert_eq!(inspect.unwrap().trim(), id);
    assert_eq!(run.unwrap(), "hello from debimage");
}
