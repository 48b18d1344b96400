//! Lines of page furniture that sit inside or right next to a statement,
//! where no element boundary separates them from it: the copyright line,
//! the print / share / "Suggest to a Friend" bar, the font-size switch, the
//! "来源：… 作者：… 浏览：#" line and the "责任编辑" signature, "Back to top".
//! With `content = "auto"` every such line is dropped from the text, so a
//! new editor's name, a share button or a footer never reads as an edit.
//!
//! Rules, not guesses: a line is furniture only when *all* of it is (every
//! word a furniture word, every field a metadata label), or when it states
//! rights reserved. A sentence that mentions printing or copyright stays.
//! Measured on the corpus and the held-out set (`docs/extraction.md`).

use std::sync::LazyLock;

use regex::Regex;

/// Whether `line` is page furniture, never statement text.
pub fn is_furniture(line: &str) -> bool {
    let line = line.trim();
    let chars = line.chars().count();
    // Furniture is short; a paragraph of prose is none of it. Every rule
    // below looks at lines of at most 240 characters.
    if line.is_empty() || chars > 2 * MAX_CHARS {
        return false;
    }
    let lower = line.to_lowercase();
    let short = chars <= MAX_CHARS;
    rights(&lower)
        || notice(&lower, chars)
        || (short
            && (tool_bar(&lower)
                || metadata(&lower)
                || caption(line, &lower)
                || byline(line, chars)
                || pointer(&lower)
                || count(line)))
}

/// Standing notices of a site, not of a statement: how to read PDFs, that
/// external links are not the site's responsibility, when the page was
/// last updated.
fn notice(lower: &str, chars: usize) -> bool {
    (lower.contains("adobe")
        && lower.contains("reader")
        && ["required", "needed", "get ", "download"]
            .iter()
            .any(|w| lower.contains(w)))
        || lower.contains("not responsible for the content of external")
        || (chars <= 80
            && [
                "last updated",
                "last modified",
                "last reviewed",
                "page last updated",
                "page last reviewed",
            ]
            .iter()
            .any(|p| lower.starts_with(p)))
}

/// A number alone on its line: a view, like or share count ("4", "+1").
/// A statement's numbers sit in sentences or table rows, not alone.
fn count(line: &str) -> bool {
    let digits = line.strip_prefix('+').unwrap_or(line);
    (1..=6).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Drops furniture lines from `text` (lines separated by `\n`).
pub fn strip(text: String) -> String {
    // Each line is judged once; most pages have a furniture line or two.
    let lines: Vec<(&str, bool)> = text.lines().map(|l| (l, is_furniture(l))).collect();
    if !lines.iter().any(|&(_, furniture)| furniture) {
        drop(lines);
        return text;
    }
    let kept: Vec<&str> = lines
        .into_iter()
        .filter(|&(line, furniture)| {
            if furniture {
                tracing::debug!(line, "auto: furniture line dropped");
            }
            !furniture
        })
        .map(|(line, _)| line)
        .collect();
    kept.join("\n")
}

/// Longest line the tool-bar and metadata rules look at: furniture is short.
const MAX_CHARS: usize = 120;

/// "Copyright © 2020 Embassy … All Rights Reserved", "版权所有：…".
fn rights(lower: &str) -> bool {
    const ANYWHERE: &[&str] = &[
        "all rights reserved",
        "版权所有",
        "版權所有",
        "保留所有权利",
        "tous droits réservés",
        "todos los derechos reservados",
        "alle rechte vorbehalten",
        "все права защищены",
        "جميع الحقوق محفوظة",
        "無断転載",
    ];
    const FIRST: &[&str] = &["©", "版权声明", "(c) "];
    if ANYWHERE.iter().any(|p| lower.contains(p)) || FIRST.iter().any(|p| lower.starts_with(p)) {
        return true;
    }
    // "Copyright © …", "Copyright 2020 …", "Copyright by …", "Copyright: …";
    // not "Copyright reform is …".
    lower.strip_prefix("copyright").is_some_and(|rest| {
        let rest = rest.trim_start();
        rest.starts_with(['©', ':'])
            || rest.starts_with("(c)")
            || rest.starts_with("by ")
            || rest.chars().take(4).filter(char::is_ascii_digit).count() == 4
    })
}

/// Words (lower-cased) that make up print, share, font-size and
/// navigation bars; a bar is a line made of nothing else.
const TOOL_WORDS: &[&str] = &[
    "print",
    "print this page",
    "printer friendly",
    "printer-friendly version",
    "email",
    "e-mail",
    "email this",
    "share",
    "share this",
    "share this article",
    "share this page",
    "suggest to a friend",
    "send to a friend",
    "tell a friend",
    "close",
    "close window",
    "facebook",
    "twitter",
    "x",
    "linkedin",
    "whatsapp",
    "weibo",
    "wechat",
    "tweet",
    "large",
    "medium",
    "small",
    "font size",
    "text size",
    "a-",
    "a+",
    "a",
    "back to top",
    "return to top",
    "top",
    "bookmark",
    "skip to content",
    "skip to main content",
    "skip navigation",
    "back to blog",
    "back to news",
    "next page",
    "previous page",
    "next",
    "previous",
    "discuss this article",
    "comments",
    "leave a comment",
    "leave a reply",
    "newer post",
    "older post",
    "show",
    "hide",
    "blog comments powered by",
    "you might also like",
    "图集",
    "打印",
    "打印本页",
    "打印此页",
    "关闭",
    "关闭窗口",
    "关闭本页",
    "分享",
    "分享到",
    "收藏",
    "收藏本页",
    "微信",
    "微博",
    "新浪微博",
    "qq空间",
    "字号",
    "字体",
    "大",
    "中",
    "小",
    "放大",
    "缩小",
    "正常",
    "默认",
    "返回顶部",
    "纠错",
    "【纠错】",
    "扫一扫",
    "打印本頁",
    "關閉窗口",
    "關閉",
    "分享至",
];

/// Tool words that are also ordinary words or letters: a line of them alone
/// is a bar only when there are three or more ("A A A", "Large Medium
/// Small"); "Top" or "A" by itself stays.
const WEAK: &[&str] = &[
    "a", "x", "top", "large", "medium", "small", "close", "大", "中", "小", "正常", "默认",
    "share", "email",
];

/// A line made only of tool words, with brackets, bars, colons and the
/// like between them: `[Print] | [Suggest to a Friend]`, `【打印本页】【关闭窗口】`,
/// `字号：大 中 小`.
fn tool_bar(lower: &str) -> bool {
    let (mut words, mut strong) = (0, false);
    for part in lower.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '[' | ']'
                    | '【'
                    | '】'
                    | '|'
                    | '｜'
                    | '/'
                    | '·'
                    | ':'
                    | '：'
                    | '('
                    | ')'
                    | '（'
                    | '）'
                    | '>'
                    | '<'
                    | '»'
                    | '«'
                    | '-'
                    | '–'
                    | '—'
                    | ','
            )
    }) {
        if part.is_empty() {
            continue;
        }
        if !TOOL_WORDS.contains(&part) {
            // Multi-word tool words ("suggest to a friend") are matched on
            // the whole line below.
            return multi_word_bar(lower);
        }
        words += 1;
        strong |= !WEAK.contains(&part);
    }
    strong || words >= 3
}

/// A bar whose words include multi-word entries: remove each entry, and
/// what is left is only separators.
fn multi_word_bar(lower: &str) -> bool {
    // Longest first, so "share this page" goes before "share".
    static MULTI: LazyLock<Vec<&str>> = LazyLock::new(|| {
        let mut multi: Vec<&str> = TOOL_WORDS
            .iter()
            .copied()
            .filter(|w| w.contains(' '))
            .collect();
        multi.sort_by_key(|w| std::cmp::Reverse(w.len()));
        multi
    });
    // Most short lines hold none of them: nothing to copy then.
    if !MULTI.iter().any(|word| lower.contains(word)) {
        return false;
    }
    let mut rest = lower.to_owned();
    for word in MULTI.iter() {
        if rest.contains(word) {
            rest = rest.replace(word, " ");
        }
    }
    rest.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .all(|w| TOOL_WORDS.contains(&w))
}

/// Labels of metadata fields (lower-cased, without the colon).
const LABELS: &[&str] = &[
    "来源",
    "来源于",
    "作者",
    "编辑",
    "责任编辑",
    "责编",
    "发布时间",
    "发布日期",
    "时间",
    "日期",
    "浏览",
    "浏览次数",
    "浏览量",
    "阅读",
    "阅读量",
    "阅读次数",
    "点击",
    "点击数",
    "点击量",
    "访问量",
    "供稿",
    "摄影",
    "文",
    "图",
    "字号",
    "信息来源",
    "稿件来源",
    "出处",
    "來源",
    "作者",
    "責任編輯",
    "編輯",
    "發佈時間",
    "source",
    "author",
    "posted",
    "posted on",
    "published",
    "updated",
    "last updated",
    "date",
    "views",
    "visits",
    "hits",
    "editor",
    "photo",
    "photos",
    "by",
    // German, French, Spanish, Polish, Russian.
    "veröffentlicht",
    "aktualisiert",
    "stand",
    "autor",
    "quelle",
    "publié le",
    "mis à jour",
    "auteur",
    "publicado",
    "actualizado",
    "fuente",
    "publikacja",
    "aktualizacja",
    "опубликовано",
    "обновлено",
    "источник",
];

/// A line made only of metadata fields — `来源：证券时报网 作者：李在山`,
/// `时间：2019年10月31日 23:00 浏览：#`, `(责编：汤诗瑶、丁涛)`, `Visits: #` —
/// with at least one label. A bare date stays: a statement's date is
/// part of it, and a changed date is news.
fn metadata(lower: &str) -> bool {
    // Fields need a colon (or the slash of "摄影/张艳"); a date-first line
    // starts with a digit.
    if !lower.contains([':', '：', '/']) {
        return false;
    }
    static FIELD: LazyLock<Regex> = LazyLock::new(|| {
        // A label, a colon (or a slash, as in "摄影/张艳"), then a value up
        // to the next label.
        Regex::new(r"^\s*[\(（【\[]?\s*([^\s:：/]{1,12}?)\s*[:：/]").expect("static regex compiles")
    });
    // "【纠错】 责任编辑：…": a tool word may lead the fields.
    let mut rest = lower
        .trim()
        .trim_start_matches("【纠错】")
        .trim_start_matches("[纠错]")
        .trim_start();
    let mut labels = 0;
    // Fields one after another: each starts with a known label.
    while let Some(caps) = FIELD.captures(rest) {
        let label = caps.get(1).map_or("", |m| m.as_str());
        if !LABELS.contains(&label) {
            break;
        }
        labels += 1;
        let after = caps.get(0).map_or(rest.len(), |m| m.end());
        rest = &rest[after..];
        // Skip the value: up to the next "label:" or the end.
        match next_field(rest) {
            Some(at) => rest = &rest[at..],
            None => return labels > 0,
        }
    }
    // "2019-09-26 12:11来源：…" — a date first, fields after.
    labels > 0 && rest.trim().is_empty() || (labels == 0 && date_then_fields(lower))
}

/// Where the next `label:` field starts in `rest`, if one does.
fn next_field(rest: &str) -> Option<usize> {
    for (at, _) in rest.char_indices().skip(1) {
        let tail = &rest[at..];
        if LABELS.iter().any(|l| {
            tail.starts_with(l) && tail[l.len()..].trim_start().starts_with([':', '：', '/'])
        }) {
            return Some(at);
        }
    }
    None
}

/// A date (and time) followed by metadata fields, as Chinese news pages
/// put them: `2019-09-26 12:11来源：证券时报网作者：李在山`.
fn date_then_fields(lower: &str) -> bool {
    static DATE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\s*\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?(?:\s*\d{1,2}:\d{2}(?::\d{2})?)?")
            .expect("static regex compiles")
    });
    let Some(date) = DATE.find(lower) else {
        return false;
    };
    let rest = &lower[date.end()..];
    !rest.trim().is_empty() && metadata(rest)
}

/// A byline: "By Clark Hoyt", "Posted on Tuesday 15 October 2019 at 09:11
/// by Bradley M. Kuhn.", "半月谈记者 史卫燕", "Dan Goodin - Apr 16, 2015 8:02 pm UTC".
fn byline(line: &str, chars: usize) -> bool {
    if chars > 80 {
        return false;
    }
    let line = line.trim_end_matches('.');
    let words: Vec<&str> = line.split_whitespace().collect();
    let name = |w: &&str| w.chars().next().is_some_and(char::is_uppercase);
    let joiner = |w: &&str| matches!(*w, "and" | "und" | "et" | "y" | "&" | "de" | "van" | "von");
    let names =
        |ws: &[&str]| !ws.is_empty() && ws.len() <= 6 && ws.iter().all(|w| name(w) || joiner(w));
    // "By Clark Hoyt", "Von Anna Schmidt", "Par Jean Dupont, envoyé spécial".
    if let [first, rest @ ..] = words.as_slice()
        && matches!(first.to_lowercase().as_str(), "by" | "von" | "par" | "por")
    {
        let before_comma: Vec<&str> = rest
            .iter()
            .take_while(|w| !w.ends_with(','))
            .copied()
            .chain(
                rest.iter()
                    .find(|w| w.ends_with(','))
                    .map(|w| w.trim_end_matches(',')),
            )
            .collect();
        return names(&before_comma);
    }
    // "… 2019 by Bradley M. Kuhn", "Posted on … by …".
    if let Some(at) = words.iter().rposition(|w| w.eq_ignore_ascii_case("by"))
        && at > 0
        && names(&words[at + 1..])
    {
        let lead = words[..at].join(" ").to_lowercase();
        let dated = words[..at]
            .iter()
            .any(|w| w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit()));
        if lead.starts_with("posted") || dated {
            return true;
        }
    }
    // "Dan Goodin - Apr 16, 2015 8:02 pm UTC": a name, a dash, a date.
    if let Some(dash) = words.iter().position(|w| matches!(*w, "-" | "–" | "|"))
        && (2..=4).contains(&dash)
        && names(&words[..dash])
        && words[dash + 1..].iter().any(|w| {
            w.trim_end_matches(',').len() == 4
                && w.trim_end_matches(',').bytes().all(|b| b.is_ascii_digit())
        })
    {
        return true;
    }
    // "半月谈记者 史卫燕", "通讯员 李明 王芳".
    match words.as_slice() {
        [role, names @ ..]
            if (role.ends_with("记者") || *role == "通讯员") && (1..=4).contains(&names.len()) =>
        {
            names.iter().all(|n| {
                (2..=4).contains(&n.chars().count()) && n.chars().all(crate::normalize::is_cjk)
            })
        }
        _ => false,
    }
}

/// A pointer to other articles: "Read more: …", "See also: …", "阅读更多：…".
fn pointer(lower: &str) -> bool {
    const LABELS: &[&str] = &[
        "read more",
        "see also",
        "related",
        "more",
        "also read",
        "lire aussi",
        "à lire aussi",
        "mehr zum thema",
        "lesen sie auch",
        "lea también",
        "читайте также",
        "阅读更多",
        "延伸阅读",
        "相关阅读",
    ];
    LABELS.iter().any(|label| {
        lower
            .strip_prefix(label)
            .is_some_and(|rest| rest.trim_start().starts_with([':', '：']))
    })
}

/// A photo caption by its words: "图为…（刘通摄）", "李尕 摄", "(Photo: …)".
fn caption(line: &str, lower: &str) -> bool {
    if line.starts_with("图为") || line.starts_with("圖為") {
        return true;
    }
    if [
        "photo:",
        "photo：",
        "picture:",
        "image:",
        "photo credit:",
        "（图片来源",
        "(图片来源",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
    {
        return true;
    }
    // "…（刘通摄）", "…(新华社记者 程敏 摄)": a credit in brackets at the end.
    let trimmed = line.trim_end();
    if let Some(inner) = trimmed
        .strip_suffix('）')
        .or_else(|| trimmed.strip_suffix(')'))
        && let Some(open) = inner.rfind(['（', '('])
    {
        let credit = inner[open..].trim_start_matches(['（', '(']).trim_end();
        if credit.ends_with('摄') && credit.chars().count() <= 13 {
            return true;
        }
    }
    // "… 李尕 摄": a short name and 摄 after a space.
    trimmed.strip_suffix('摄').is_some_and(|before| {
        let before = before.trim_end();
        before
            .rsplit_once(char::is_whitespace)
            .is_some_and(|(_, name)| (1..=6).contains(&name.chars().count()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn furniture_lines() {
        for line in [
            "Copyright Embassy of the People's Republic of China in the United Kingdom. All Rights Reserved.",
            "© 2026 Ministry of Foreign Affairs",
            "Copyright © 2020 mfa.gov.cn",
            "版权所有：中华人民共和国驻大不列颠及北爱尔兰联合王国大使馆",
            "中华人民共和国外交部 版权所有",
            "[Print] | [Suggest to a Friend]",
            "[Print] [Suggest to a Friend]",
            "Print Suggest to a Friend",
            "Print | Email | Share",
            "【打印本页】【关闭窗口】",
            "【打印本页】【关闭窗口】 分享到： 微信 微博",
            "打印 字体： 放大 正常 缩小 分享",
            "字号：大 中 小",
            "[Large Medium Small]",
            "Back to top",
            "来源：证券时报网 作者：李在山",
            "来源：本站原创 作者：医技药剂党支部",
            "时间：2019年10月31日 23:00 浏览：#",
            "时间：2019-09-18 06:23 来源： 山西日报",
            "发布时间：2019-05-18 来源：中国地理学会",
            "2019-09-26 12:11来源：证券时报网作者：李在山",
            "2020-07-30 来源：中国驻英国大使馆 浏览次数：#",
            "(责编：汤诗瑶、丁涛)",
            "责任编辑：张三",
            "【纠错】 责任编辑： 尹世杰",
            "来源于：东区办事处",
            "Visits: #",
            "Publikacja: 04.05.2021",
            "Aktualizacja: 05.05.2021, 05:53",
            "图为山西品牌丝路行（南美站）启动仪式。（刘通摄）",
            "为了上网推介、售卖家乡特产，安化县一块花生地里正录制视频 李尕 摄",
            "By Clark Hoyt",
            "Posted on Tuesday 15 October 2019 at 09:11 by Bradley M. Kuhn.",
            "Tuesday 15 October 2019 by Bradley M. Kuhn",
            "Dan Goodin - Apr 16, 2015 8:02 pm UTC",
            "半月谈记者 史卫燕",
            "Read more: Recognizing Germany colonial crimes: Work in progress",
            "Next page >>",
            "Skip to content",
            "4",
            "+1",
            "This page contains documents in Portable Document Format (PDF). The Adobe Acrobat® Reader® is required to view PDF documents.",
            "The BBC is not responsible for the content of external sites listed.",
            "Last updated on October 5th at 2:35 PM.",
            "Page last reviewed: 12 March 2026",
        ] {
            assert!(is_furniture(line), "{line:?} is furniture");
        }
    }

    #[test]
    fn statement_lines_stay() {
        for line in [
            "Ambassador Liu Xiaoming Holds Press Conference on China-UK Relationship",
            "2020/07/30",
            "2026-11-29",
            "2020年7月30日",
            "The Ministry reserves the right to respond to these allegations.",
            "The new copyright directive will be printed in the Official Journal.",
            "Copyright reform is a priority of the presidency, the minister said, and the Council will discuss it in December.",
            "Please share this statement with the press.",
            "Print media are welcome at the briefing.",
            "Source: Ministry of Foreign Affairs of the People's Republic of China, press release of 30 July 2020, issued in London and Beijing",
            "问：英国外交大臣发表所谓香港问题半年报告，对香港事务说三道四，请问对此有何评论？",
            "答：香港事务纯属中国内政，任何外国无权干涉。",
            "外交部发言人答记者问",
            "他指出，来源于各方的信息表明，局势正在好转。",
            "A",
            "Top officials met in Geneva.",
            "By order of the Minister, the embassy will close on Friday.",
            "By 2030, emissions must fall by half.",
            "Comments by the spokesperson on the report",
            "More than 300 people attended.",
            "Next, the minister addressed the press.",
            "记者：请问中方对此有何评论？",
            "The report was last updated by the ministry in 2019, the spokesperson said, and it will be revised after the consultation ends in March.",
        ] {
            assert!(!is_furniture(line), "{line:?} is statement text");
        }
    }

    #[test]
    fn strip_keeps_order_and_only_drops_whole_lines() {
        let text = "Title\n2020/07/30\nFirst paragraph.\n[Print] | [Suggest to a Friend]\nCopyright Embassy. All Rights Reserved.".to_owned();
        assert_eq!(strip(text), "Title\n2020/07/30\nFirst paragraph.");
        let clean = "Title\nOne.".to_owned();
        assert_eq!(strip(clean), "Title\nOne.");
    }
}
