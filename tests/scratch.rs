#[test]
fn scratch() {
    for f in std::env::var("BPL_FILES").unwrap().split(',') {
        let src = std::fs::read_to_string(f).unwrap();
        let (m, d) = bplc::syntax::parse(bplc::syntax::span::FileId(0), &src);
        println!("{f}: {} items", m.items.len());
        if std::env::var("AST").is_ok() { println!("{:#?}", m); }
        for x in d { println!("  {} {} {:?} [{}] help={:?}", x.code, x.message, x.labels.iter().map(|l| (l.span.start, l.span.end, l.message.clone(), &src[l.span.range()])).collect::<Vec<_>>(), "", x.help); }
    }
}
