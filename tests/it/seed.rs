//! Pages shaped like the embassy statement this project exists for
//! (`tests/fixtures/seed/`, see its README): a banner, a 20-link menu, a
//! side column, a breadcrumb, a title cell, a date cell, the statement's
//! paragraphs, a "Print | Suggest to a Friend" bar, a visit counter and a
//! copyright footer, in nested layout tables (English) or divs (Chinese).
//! The same template carries statements of two paragraphs and of forty.

use crate::support::fixture;

/// The seed statement's title.
pub const TITLE: &str = "Ambassador Liu Xiaoming Holds Press Conference on China-UK Relationship";

/// The statement's paragraphs, from the seed capture.
pub fn paragraphs() -> Vec<String> {
    let text = String::from_utf8(fixture("seed/embassy-uk-liu-presser-2020-07-30.txt"))
        .expect("UTF-8 seed text");
    text.lines()
        .skip_while(|l| *l != TITLE)
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take_while(|l| *l != "Suggest to a Friend")
        .map(str::to_owned)
        .collect()
}

/// Short paragraphs of the kind a two-paragraph statement has.
pub const SHORT: [&str; 4] = [
    "The Chinese Embassy in the UK firmly opposes the so-called statement by the UK side on Hong Kong.",
    "We urge the UK to stop interfering in China's internal affairs, which will only hurt its own interests.",
    "Hong Kong affairs are purely China's internal affairs and no foreign country has the right to interfere.",
    "The Embassy has lodged stern representations with the Foreign, Commonwealth and Development Office.",
];

/// The template with `title` in `<title>`, `heading` in the title cell.
fn fill(
    template: &str,
    title: &str,
    heading: &str,
    date: &str,
    body: &str,
    counter: u32,
) -> String {
    let template = String::from_utf8(fixture(template)).expect("UTF-8 template");
    template
        .replacen("{{TITLE}}", &escape(title), 1)
        .replacen("{{TITLE}}", &escape(heading), 1)
        .replace("{{DATE}}", date)
        .replace("{{BODY}}", body)
        .replace("{{COUNTER}}", &counter.to_string())
}

/// The name the site's pages carry as their title.
pub const SITE_EN: &str = "Embassy of the People's Republic of China in the United Kingdom";
pub const SITE_ZH: &str = "中华人民共和国驻大不列颠及北爱尔兰联合王国大使馆";

/// The site's not-found page: the site's own title, the apology where the
/// statement's heading was, a line of advice, and all the chrome.
pub fn not_found_en(apology: &str) -> String {
    fill(
        "seed/embassy-en.html",
        SITE_EN,
        apology,
        "",
        "<p>Please check the address, or go back to the <a href=\"/eng/\">home page</a>.</p>",
        1,
    )
}

/// The Chinese site's not-found page.
pub fn not_found_zh(apology: &str) -> String {
    fill(
        "seed/embassy-zh.html",
        SITE_ZH,
        apology,
        "",
        "<p>请<a href=\"/chn/\">返回首页</a>。</p>",
        1,
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The English embassy page with `body` (HTML, as is) where the
/// statement goes: for a page whose script puts the statement in place.
pub fn shell_en(title: &str, body: &str) -> String {
    fill("seed/embassy-en.html", title, title, "2020/07/30", body, 1)
}

/// The English embassy page with `paragraphs` as the statement.
pub fn page_en(title: &str, paragraphs: &[&str], counter: u32) -> String {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<p>&nbsp;&nbsp;&nbsp;&nbsp;{}</p>\n", escape(p)))
        .collect();
    fill(
        "seed/embassy-en.html",
        title,
        title,
        "2020/07/30",
        &body,
        counter,
    )
}

/// The Chinese embassy page with `paragraphs` as the statement.
pub fn page_zh(title: &str, paragraphs: &[&str], counter: u32) -> String {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<p>　　{}</p>\n", escape(p)))
        .collect();
    fill(
        "seed/embassy-zh.html",
        title,
        title,
        "2020-07-30",
        &body,
        counter,
    )
}

/// A statement in Chinese, paragraph by paragraph.
pub const ZH: [&str; 4] = [
    "问：英国外交大臣发表所谓香港问题半年报告，对香港事务说三道四，请问对此有何评论？",
    "答：香港回归祖国以来，“一国两制”实践取得举世公认的成功。香港事务纯属中国内政，任何外国无权干涉。",
    "我们敦促英方停止以任何方式干预香港事务和中国其他内政，多做有利于中英关系发展的事。",
    "中方维护国家主权、安全、发展利益的决心坚定不移。",
];
