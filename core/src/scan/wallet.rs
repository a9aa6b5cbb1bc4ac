//! Links that only a named external wallet app can pay (Alipay, WeChat Pay, UnionPay
//! QuickPass, QQ Wallet, JD Pay, Douyin Pay, Meituan Pay…): recognised and routed, not parsed further.

use serde::Serialize;

use super::types::{Detail, Format, Initiation, Scanned, Warning, WarningCode};

/// The wallet a link belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum WalletProvider {
    /// Alipay (支付宝).
    Alipay,
    /// WeChat Pay (微信支付).
    WechatPay,
    /// UnionPay QuickPass (云闪付).
    UnionPay,
    /// QQ Wallet (QQ钱包).
    QqWallet,
    /// JD Pay (京东支付).
    JdPay,
    /// Douyin Pay (抖音支付).
    DouyinPay,
    /// Meituan Pay (美团支付).
    MeituanPay,
    /// PayPal.
    PayPal,
    /// Paytm.
    Paytm,
    /// Bitcoin / BIP-21 URI.
    Bitcoin,
}

impl WalletProvider {
    /// The provider's display name.
    pub fn display_name(&self) -> &'static str {
        match self {
            WalletProvider::Alipay => "Alipay",
            WalletProvider::WechatPay => "WeChat Pay",
            WalletProvider::UnionPay => "UnionPay QuickPass",
            WalletProvider::QqWallet => "QQ Wallet",
            WalletProvider::JdPay => "JD Pay",
            WalletProvider::DouyinPay => "Douyin Pay",
            WalletProvider::MeituanPay => "Meituan Pay",
            WalletProvider::PayPal => "PayPal",
            WalletProvider::Paytm => "Paytm",
            WalletProvider::Bitcoin => "a Bitcoin wallet",
        }
    }
}

/// A link for an external wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct WalletLink {
    /// Which wallet.
    pub provider: WalletProvider,
    /// The link as scanned.
    pub url: String,
}

const PREFIXES: &[(&str, WalletProvider)] = &[
    ("https://qr.alipay.com/", WalletProvider::Alipay),
    ("http://qr.alipay.com/", WalletProvider::Alipay),
    ("alipays://", WalletProvider::Alipay),
    ("alipay://", WalletProvider::Alipay),
    ("wxp://", WalletProvider::WechatPay),
    ("weixin://", WalletProvider::WechatPay),
    ("https://payapp.weixin.qq.com/", WalletProvider::WechatPay),
    ("https://wx.tenpay.com/", WalletProvider::WechatPay),
    ("https://qr.95516.com/", WalletProvider::UnionPay),
    ("http://qr.95516.com/", WalletProvider::UnionPay),
    ("upwallet://", WalletProvider::UnionPay),
    ("unionpay://", WalletProvider::UnionPay),
    ("upapi://", WalletProvider::UnionPay),
    ("uppay://", WalletProvider::UnionPay),
    ("https://wallet.95516.com/", WalletProvider::UnionPay),
    ("https://i.qianbao.qq.com/", WalletProvider::QqWallet),
    ("https://qpay.qq.com/", WalletProvider::QqWallet),
    ("mqqapi://", WalletProvider::QqWallet),
    ("mqqwallet://", WalletProvider::QqWallet),
    ("https://h5pay.jd.com/", WalletProvider::JdPay),
    ("https://pay.jd.com/", WalletProvider::JdPay),
    ("openapp.jdmobile://", WalletProvider::JdPay),
    ("jdmobile://", WalletProvider::JdPay),
    ("jdpay://", WalletProvider::JdPay),
    ("https://tp-pay.snssdk.com/", WalletProvider::DouyinPay),
    ("snssdk1128://", WalletProvider::DouyinPay),
    ("aweme://", WalletProvider::DouyinPay),
    ("https://npay.meituan.com/", WalletProvider::MeituanPay),
    ("imeituan://", WalletProvider::MeituanPay),
    ("meituanwaimai://", WalletProvider::MeituanPay),
    ("https://paypal.me/", WalletProvider::PayPal),
    ("https://www.paypal.me/", WalletProvider::PayPal),
    ("paytmmp://", WalletProvider::Paytm),
    ("bitcoin:", WalletProvider::Bitcoin),
];

/// Recognises a wallet link by its scheme and host, case-insensitively.
pub(crate) fn recognise(t: &str) -> Option<Scanned> {
    let head: String = t.chars().take(40).collect::<String>().to_ascii_lowercase();
    let provider = PREFIXES
        .iter()
        .find(|(p, _)| head.starts_with(p))
        .map(|(_, w)| *w)?;
    Some(Scanned {
        format: Format::Wallet,
        payable: false,
        payee_name: None,
        payee_name_local: None,
        payee_city: None,
        amount: None,
        currency: None,
        references: Vec::new(),
        initiation: Initiation::Static,
        warnings: vec![Warning::new(
            WarningCode::UnexpectedValue,
            format!(
                "this code is for {}: open it in that app to pay",
                provider.display_name()
            ),
        )],
        detail: Detail::Wallet(WalletLink {
            provider,
            url: t.to_string(),
        }),
    })
}
