//! Deterministic seed data: the category tree (9 categories, 50+ sub-categories) and ≥ 200
//! billers across them, in eight cities, with lookup fields and amount rules.

pub use billtap_core::platform::api::Names;

/// The catalog version the API reports.
pub const VERSION: &str = "2026-11";

fn names(zh: &str, en: &str) -> Names {
    Names {
        zh: zh.into(),
        en: en.into(),
    }
}

/// A sub-category of the catalog.
#[derive(Debug, Clone)]
pub struct Sub {
    /// `category.sub` id.
    pub id: String,
    /// Names.
    pub names: Names,
    /// What billers of this kind are called (after the city), in zh and en.
    pub biller_noun: (&'static str, &'static str),
    /// Which lookup field its billers need.
    pub field: FieldKind,
    /// How amounts are set.
    pub rule: RuleKind,
}

/// A top-level category.
#[derive(Debug, Clone)]
pub struct Category {
    /// Id.
    pub id: String,
    /// Names.
    pub names: Names,
    /// Its sub-categories.
    pub subs: Vec<Sub>,
}

/// The kinds of account identifiers billers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Utility account `NNNNNN-NNNN-NNNN`.
    UtilityAccount,
    /// Phone or broadband number, 11 digits.
    PhoneNumber,
    /// Student id `S` + 8 digits.
    StudentId,
    /// Hospital patient id `P` + 9 digits.
    PatientId,
    /// Licence plate, e.g. `京A12345`.
    LicencePlate,
    /// Transit card number, 16 digits.
    CardNumber,
    /// National id (18 characters) for social insurance and fees.
    NationalId,
    /// Case number for court fees, e.g. `(2026)京0105民初1234号`.
    CaseNumber,
    /// Donations need no account: the donor's mobile for the receipt.
    DonorMobile,
}

impl FieldKind {
    /// `(key, zh label, en label, regex, example)`.
    pub fn spec(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ) {
        match self {
            FieldKind::UtilityAccount => (
                "account",
                "户号",
                "Account number",
                "^[0-9]{6}-[0-9]{4}-[0-9]{4}$",
                "110105-3345-0871",
            ),
            FieldKind::PhoneNumber => (
                "phone",
                "号码",
                "Phone number",
                "^1[3-9][0-9]{9}$",
                "13800138000",
            ),
            FieldKind::StudentId => (
                "student_id",
                "学号",
                "Student ID",
                "^S[0-9]{8}$",
                "S20260001",
            ),
            FieldKind::PatientId => (
                "patient_id",
                "就诊卡号",
                "Patient ID",
                "^P[0-9]{9}$",
                "P000123456",
            ),
            FieldKind::LicencePlate => (
                "plate",
                "车牌号",
                "Licence plate",
                "^[京沪粤川浙鄂陕][A-Z][A-Z0-9]{5}$",
                "京A12345",
            ),
            FieldKind::CardNumber => (
                "card",
                "卡号",
                "Card number",
                "^[0-9]{16}$",
                "3104000012345678",
            ),
            FieldKind::NationalId => (
                "national_id",
                "身份证号",
                "National ID",
                "^[0-9]{17}[0-9X]$",
                "110105199001011234",
            ),
            FieldKind::CaseNumber => (
                "case",
                "案号",
                "Case number",
                "^\\([0-9]{4}\\)[^ ]{2,30}号$",
                "(2026)京0105民初1234号",
            ),
            FieldKind::DonorMobile => (
                "mobile",
                "手机号",
                "Mobile number",
                "^1[3-9][0-9]{9}$",
                "13900139000",
            ),
        }
    }
}

/// How a biller's amounts are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// Pay exactly the bill.
    Fixed,
    /// Part payments allowed (utilities).
    Partial,
    /// The payer chooses within min/max (donations, top-ups).
    PayerChosen {
        /// Minimum, in fen.
        min_fen: i64,
        /// Maximum, in fen.
        max_fen: i64,
    },
}

macro_rules! sub {
    ($cat:literal, $id:literal, $zh:literal, $en:literal, $nzh:literal, $nen:literal, $field:ident, $rule:expr) => {
        Sub {
            id: format!("{}.{}", $cat, $id),
            names: names($zh, $en),
            biller_noun: ($nzh, $nen),
            field: FieldKind::$field,
            rule: $rule,
        }
    };
}

/// The category tree.
pub fn categories() -> Vec<Category> {
    use RuleKind::*;
    let donation = PayerChosen {
        min_fen: 100,
        max_fen: 5_000_000,
    };
    let topup = PayerChosen {
        min_fen: 1_000,
        max_fen: 100_000,
    };
    vec![
        Category {
            id: "utilities".into(),
            names: names("生活缴费", "Utilities"),
            subs: vec![
                sub!(
                    "utilities",
                    "water",
                    "水费",
                    "Water",
                    "自来水集团",
                    "Waterworks",
                    UtilityAccount,
                    Partial
                ),
                sub!(
                    "utilities",
                    "electricity",
                    "电费",
                    "Electricity",
                    "供电公司",
                    "Power Supply",
                    UtilityAccount,
                    Partial
                ),
                sub!(
                    "utilities",
                    "gas",
                    "燃气费",
                    "Gas",
                    "燃气集团",
                    "Gas Group",
                    UtilityAccount,
                    Partial
                ),
                sub!(
                    "utilities",
                    "heating",
                    "供暖费",
                    "Heating",
                    "热力公司",
                    "Heating Co.",
                    UtilityAccount,
                    Fixed
                ),
                sub!(
                    "utilities",
                    "telecom",
                    "话费",
                    "Mobile phone",
                    "移动通信",
                    "Mobile",
                    PhoneNumber,
                    topup
                ),
                sub!(
                    "utilities",
                    "broadband",
                    "宽带",
                    "Broadband",
                    "宽带网络",
                    "Broadband",
                    PhoneNumber,
                    Fixed
                ),
                sub!(
                    "utilities",
                    "cable_tv",
                    "有线电视",
                    "Cable TV",
                    "有线电视",
                    "Cable TV",
                    UtilityAccount,
                    Fixed
                ),
                sub!(
                    "utilities",
                    "property",
                    "物业费",
                    "Property management",
                    "物业服务",
                    "Property Services",
                    UtilityAccount,
                    Fixed
                ),
                sub!(
                    "utilities",
                    "sanitation",
                    "环卫费",
                    "Sanitation",
                    "环境卫生",
                    "Sanitation",
                    UtilityAccount,
                    Fixed
                ),
            ],
        },
        Category {
            id: "non_tax".into(),
            names: names("非税缴费", "Non-tax fees"),
            subs: vec![
                sub!(
                    "non_tax",
                    "admin_fees",
                    "行政事业性收费",
                    "Administrative fees",
                    "财政局非税",
                    "Finance Bureau Fees",
                    NationalId,
                    Fixed
                ),
                sub!(
                    "non_tax",
                    "exam_fees",
                    "考试报名费",
                    "Exam registration",
                    "教育考试院",
                    "Education Examinations",
                    NationalId,
                    Fixed
                ),
                sub!(
                    "non_tax",
                    "fines",
                    "罚没款",
                    "Fines",
                    "非税收入",
                    "Non-tax Revenue",
                    NationalId,
                    Fixed
                ),
                sub!(
                    "non_tax",
                    "land",
                    "国有资源有偿使用",
                    "Public resource fees",
                    "自然资源局",
                    "Natural Resources",
                    NationalId,
                    Fixed
                ),
            ],
        },
        Category {
            id: "social_security".into(),
            names: names("社保医保", "Social security"),
            subs: vec![
                sub!(
                    "social_security",
                    "pension",
                    "养老保险",
                    "Pension insurance",
                    "社会保险",
                    "Social Insurance",
                    NationalId,
                    Fixed
                ),
                sub!(
                    "social_security",
                    "medical",
                    "医疗保险",
                    "Medical insurance",
                    "医疗保障局",
                    "Healthcare Security",
                    NationalId,
                    Fixed
                ),
                sub!(
                    "social_security",
                    "rural_medical",
                    "城乡居民医保",
                    "Resident medical insurance",
                    "居民医保",
                    "Resident Medical Insurance",
                    NationalId,
                    Fixed
                ),
                sub!(
                    "social_security",
                    "housing_fund",
                    "住房公积金",
                    "Housing provident fund",
                    "公积金中心",
                    "Housing Fund",
                    NationalId,
                    Fixed
                ),
            ],
        },
        Category {
            id: "education".into(),
            names: names("教育缴费", "Education"),
            subs: vec![
                sub!(
                    "education",
                    "tuition",
                    "学费",
                    "Tuition",
                    "第一中学",
                    "No. 1 Middle School",
                    StudentId,
                    Fixed
                ),
                sub!(
                    "education",
                    "enrolment",
                    "报名费",
                    "Enrolment",
                    "实验小学",
                    "Experimental Primary School",
                    StudentId,
                    Fixed
                ),
                sub!(
                    "education",
                    "school_meals",
                    "餐费",
                    "School meals",
                    "第二小学",
                    "No. 2 Primary School",
                    StudentId,
                    Fixed
                ),
                sub!(
                    "education",
                    "campus_card",
                    "校园卡充值",
                    "Campus card",
                    "大学",
                    "University",
                    StudentId,
                    topup
                ),
                sub!(
                    "education",
                    "tutoring",
                    "课后服务",
                    "After-school tutoring",
                    "少年宫",
                    "Children's Palace",
                    StudentId,
                    Fixed
                ),
                sub!(
                    "education",
                    "kindergarten",
                    "保育费",
                    "Kindergarten",
                    "幼儿园",
                    "Kindergarten",
                    StudentId,
                    Fixed
                ),
                sub!(
                    "education",
                    "textbooks",
                    "教材费",
                    "Textbooks",
                    "教材中心",
                    "Textbook Centre",
                    StudentId,
                    Fixed
                ),
            ],
        },
        Category {
            id: "health".into(),
            names: names("医疗健康", "Health care"),
            subs: vec![
                sub!(
                    "health",
                    "outpatient",
                    "门诊缴费",
                    "Outpatient",
                    "人民医院",
                    "People's Hospital",
                    PatientId,
                    Fixed
                ),
                sub!(
                    "health",
                    "prescription",
                    "处方缴费",
                    "Prescription",
                    "中医医院",
                    "TCM Hospital",
                    PatientId,
                    Fixed
                ),
                sub!(
                    "health",
                    "inpatient_deposit",
                    "住院预交金",
                    "Hospitalisation deposit",
                    "第一医院",
                    "First Hospital",
                    PatientId,
                    PayerChosen {
                        min_fen: 10_000,
                        max_fen: 10_000_000
                    }
                ),
                sub!(
                    "health",
                    "checkup",
                    "体检费",
                    "Health check",
                    "妇幼保健院",
                    "Maternal and Child Health",
                    PatientId,
                    Fixed
                ),
                sub!(
                    "health",
                    "vaccination",
                    "疫苗接种",
                    "Vaccination",
                    "疾控中心",
                    "CDC",
                    PatientId,
                    Fixed
                ),
            ],
        },
        Category {
            id: "transport".into(),
            names: names("交通出行", "Transport"),
            subs: vec![
                sub!(
                    "transport",
                    "transit_card",
                    "交通卡充值",
                    "Transit card top-up",
                    "一卡通",
                    "Transit Card",
                    CardNumber,
                    topup
                ),
                sub!(
                    "transport",
                    "etc",
                    "ETC通行费",
                    "ETC tolls",
                    "高速ETC",
                    "Expressway ETC",
                    LicencePlate,
                    Fixed
                ),
                sub!(
                    "transport",
                    "traffic_fines",
                    "交通罚款",
                    "Traffic fines",
                    "交警支队",
                    "Traffic Police",
                    LicencePlate,
                    Fixed
                ),
                sub!(
                    "transport",
                    "parking",
                    "停车费",
                    "Parking",
                    "静态交通",
                    "Parking Management",
                    LicencePlate,
                    Fixed
                ),
                sub!(
                    "transport",
                    "vehicle_tax",
                    "车船税",
                    "Vehicle tax",
                    "税务局车船税",
                    "Vehicle Tax",
                    LicencePlate,
                    Fixed
                ),
                sub!(
                    "transport",
                    "bus_pass",
                    "公交月票",
                    "Bus pass",
                    "公交集团",
                    "Bus Group",
                    CardNumber,
                    topup
                ),
            ],
        },
        Category {
            id: "government".into(),
            names: names("政务缴费", "Government"),
            subs: vec![
                sub!(
                    "government",
                    "court_fees",
                    "诉讼费",
                    "Court fees",
                    "人民法院",
                    "People's Court",
                    CaseNumber,
                    Fixed
                ),
                sub!(
                    "government",
                    "maintenance_fund",
                    "维修基金",
                    "Maintenance fund",
                    "住房维修资金",
                    "Housing Maintenance Fund",
                    UtilityAccount,
                    Fixed
                ),
                sub!(
                    "government",
                    "lottery",
                    "彩票",
                    "Lottery",
                    "福利彩票",
                    "Welfare Lottery",
                    DonorMobile,
                    topup
                ),
                sub!(
                    "government",
                    "passport",
                    "出入境证件费",
                    "Passport and permits",
                    "出入境管理",
                    "Exit-Entry Administration",
                    NationalId,
                    Fixed
                ),
                sub!(
                    "government",
                    "notary",
                    "公证费",
                    "Notary fees",
                    "公证处",
                    "Notary Office",
                    NationalId,
                    Fixed
                ),
                sub!(
                    "government",
                    "real_estate",
                    "不动产登记费",
                    "Property registration",
                    "不动产登记中心",
                    "Real Estate Registration",
                    NationalId,
                    Fixed
                ),
            ],
        },
        Category {
            id: "charity".into(),
            names: names("公益捐款", "Charity donations"),
            subs: vec![
                sub!(
                    "charity",
                    "disaster_relief",
                    "灾害救助",
                    "Disaster relief",
                    "红十字会",
                    "Red Cross",
                    DonorMobile,
                    donation
                ),
                sub!(
                    "charity",
                    "education_aid",
                    "助学",
                    "Education aid",
                    "希望工程",
                    "Project Hope",
                    DonorMobile,
                    donation
                ),
                sub!(
                    "charity",
                    "medical_aid",
                    "医疗救助",
                    "Medical aid",
                    "慈善总会",
                    "Charity Federation",
                    DonorMobile,
                    donation
                ),
                sub!(
                    "charity",
                    "environment",
                    "环保公益",
                    "Environmental protection",
                    "绿化基金会",
                    "Greening Foundation",
                    DonorMobile,
                    donation
                ),
            ],
        },
        Category {
            id: "finance".into(),
            names: names("金融服务", "Financial services"),
            subs: vec![
                sub!(
                    "finance",
                    "credit_card",
                    "信用卡还款",
                    "Credit card repayment",
                    "银行信用卡",
                    "Bank Credit Card",
                    CardNumber,
                    Partial
                ),
                sub!(
                    "finance",
                    "loan",
                    "贷款还款",
                    "Loan repayment",
                    "小额贷款",
                    "Microfinance",
                    NationalId,
                    Partial
                ),
                sub!(
                    "finance",
                    "insurance",
                    "保险费",
                    "Insurance premium",
                    "人寿保险",
                    "Life Insurance",
                    NationalId,
                    Fixed
                ),
                sub!(
                    "finance",
                    "rent",
                    "租金",
                    "Rent",
                    "保障性住房",
                    "Public Housing",
                    UtilityAccount,
                    Fixed
                ),
                sub!(
                    "finance",
                    "postal",
                    "邮政缴费",
                    "Postal services",
                    "邮政",
                    "Post",
                    UtilityAccount,
                    Fixed
                ),
                sub!(
                    "finance",
                    "funeral",
                    "殡葬服务",
                    "Funeral services",
                    "殡仪馆",
                    "Funeral Home",
                    NationalId,
                    Fixed
                ),
            ],
        },
    ]
}

/// The eight cities billers are seeded in: code prefix (GB/T 2260), short id, zh, en, plate prefix.
pub const CITIES: [(&str, &str, &str, &str); 8] = [
    ("11", "BJ", "北京市", "Beijing"),
    ("31", "SH", "上海市", "Shanghai"),
    ("4401", "GZ", "广州市", "Guangzhou"),
    ("4403", "SZ", "深圳市", "Shenzhen"),
    ("5101", "CD", "成都市", "Chengdu"),
    ("3301", "HZ", "杭州市", "Hangzhou"),
    ("4201", "WH", "武汉市", "Wuhan"),
    ("6101", "XA", "西安市", "Xi'an"),
];
